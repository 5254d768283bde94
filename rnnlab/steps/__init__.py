"""One module per DVC stage: the work behind each thin script in stages/."""
