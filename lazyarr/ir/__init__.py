"""The graph, the op table and the loop IR: the records every stage reads."""
