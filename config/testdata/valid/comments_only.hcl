# A file with only comments is the default configuration.
// So is this.
