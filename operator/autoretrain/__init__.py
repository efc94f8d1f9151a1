"""autoretrain: retrain ML models on Kubernetes, and ship them only through gates and a canary."""
