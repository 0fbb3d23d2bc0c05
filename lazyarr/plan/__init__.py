"""Planning: the graph cut into steps, and each fused step lowered to loop IR."""
