"""Looking inside: explain, notebook display, debug output, code facts."""
