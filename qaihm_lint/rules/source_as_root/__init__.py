"""The SourceAsRoot and external-repository rules (QAI401-QAI406)."""
