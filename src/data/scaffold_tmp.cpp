// scaffolding: replaced by the module's sources
