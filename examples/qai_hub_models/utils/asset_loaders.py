class SourceAsRoot:
    def __init__(
        self,
        source_repo_url,
        source_repo_commit_hash,
        source_repo_name,
        source_repo_version,
        source_repo_patches=None,
        keep_sys_modules=False,
    ):
        pass

    def __enter__(self):
        return "/tmp/repo"

    def __exit__(self, *exc):
        return False
