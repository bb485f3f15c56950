InputSpec = dict
