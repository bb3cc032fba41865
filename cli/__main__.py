"""``python -m clust_core.cli`` (what ``torchrun`` starts for multi-GPU runs)."""
from .main import main

main()
