"""The model class rules (QAI102, QAI104, QAI2xx, QAI703): what the folder's BaseModel
subclass must define, as its MRO really has it (resolved through the index)."""
