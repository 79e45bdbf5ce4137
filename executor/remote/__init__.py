"""The forwarder: a remote executor that runs the jobs the overflow policy picks on a RunPod endpoint.

``api``: RunPod's endpoint REST API (run, status, cancel) and what each failure of a POST /run means;
``translate``: a store job as RunPod's body, and RunPod's answer back as the result, outputs or error a local
run writes; ``remote_job``: one job from its claim to its end; ``loop``: claims, heartbeats, resumes after a
crash; ``main``: the ``comfyui-worker forwarder`` command. It talks only to the store and to RunPod.
"""
