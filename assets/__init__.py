"""Getting the books the project trains on (never committed: they are downloaded into assets/cache/)."""
