data_dir = env.NO_SUCH_VARIABLE
