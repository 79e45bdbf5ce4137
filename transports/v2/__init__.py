"""RunPod's endpoint API (``/v2/{endpoint_id}/...``) on the self-hosted daemon: one more view of the same jobs.

``bodies``: the request and response shapes runpod-python's ``Endpoint`` sends and reads; ``view``: a store job
as RunPod shows it; ``operations``: what each route does with the job service.
"""
