"""The storage room: turn a storage URI into local files a runtime can load.

`fetch.download(uri, cache_dir=...)` is the one entry point. Behind it, one provider per URI
scheme (`local`, `pvc`, `http`, `s3`) sits in a registry built per call, remote downloads land
in a content-addressed cache, and archives are unpacked without letting any member escape.
Nothing here imports boto3 or httpx until a URI of their scheme is fetched.
"""
