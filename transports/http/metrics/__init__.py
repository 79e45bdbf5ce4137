"""/metrics: the Prometheus exposition of the daemon's figures (``registry.Metrics``), from the store (every
process's figures: ``store_figures``) and from this process (HTTP requests: ``requests``)."""
