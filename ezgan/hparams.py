"""The tutorial's hyper-parameters, in one place. Every default of ``python -m ezgan`` comes from here."""

Z_DIM = 100                # length of the generator's noise vector z
BATCH_SIZE = 50            # images per step, real and generated alike
D_LEARNING_RATE = 3e-4     # Adam, discriminator: two optimizers (on real, on fake), each with this rate
G_LEARNING_RATE = 1e-4     # Adam, generator
PRETRAIN_STEPS = 300       # discriminator-only steps before the generator trains at all
ITERATIONS = 100_000       # main loop: one discriminator step then one generator step each
SUMMARY_EVERY = 10         # TensorBoard scalars and images every this many iterations
INIT_STDDEV = 0.02         # truncated-normal initializer of every weight (and the generator's biases)
BN_EPSILON = 1e-5          # batch norm's epsilon, as the tutorial passed it
BN_DECAY = 0.999           # contrib batch norm's default decay of its (never-run) moving averages
