"""Edit sets: choosing the images a model gets wrong, and reading and writing them."""
