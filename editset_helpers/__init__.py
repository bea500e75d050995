"""Edit sets: choosing the images a model gets wrong, reading and writing them, evaluating a
model on them and on the rest of the split, analysing them and showing them in a browser."""
