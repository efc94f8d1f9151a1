import sys

from localcluster.launcher import main

sys.exit(main())
