/** The generator's version, printed in every file header and by `gen --version`. */
export const GENERATOR_VERSION = '0.1.0';
