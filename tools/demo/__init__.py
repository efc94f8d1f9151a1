"""The demo's story and its data: three days of a churn model's life."""
