"""A simulated ONVIF camera: SOAP services, WS-Discovery, and an RTSP server streaming a synthetic hall."""
