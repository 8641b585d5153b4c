"""The declarative API: KServe's resources as pydantic models, with defaulting and validation."""
