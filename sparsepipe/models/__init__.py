"""Networks: masked feed-forward nets, recurrent classifiers and graph-structured recurrent nets."""
