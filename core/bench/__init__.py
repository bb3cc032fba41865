"""``clust bench``'s parts: the cells it runs (:mod:`.cells`), its tables (:mod:`.tables`) and plot (:mod:`.plot`)."""
