"""RunPod serverless transport: an async handler for ``runpod.serverless.start`` that only talks to the store.

``runpod`` itself is imported by ``main.main()`` alone (``import runpod`` costs ~1.5 s): nothing else
imports it.
"""
