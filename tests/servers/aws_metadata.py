"""A stand-in for the AWS credential endpoints a cloud machine offers, on loopback, for the
credential-chain tests: the EC2 instance metadata service (IMDSv2: token, role, role
credentials) and the EKS Pod Identity agent (a bearer token in, credentials out). Prints
one line per request served, so the test can see which endpoint mreg used.

    python3 aws_metadata.py PORT
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

CREDS = {
    "Code": "Success",
    "AccessKeyId": "AKIAMREGCHAINKEY",
    "SecretAccessKey": "mreg-chain-secret",
    "Token": "mreg-chain-session",
    "Expiration": "2099-01-01T00:00:00Z",
}
ROLE = "mreg-role"


class Handler(BaseHTTPRequestHandler):
    def _send(self, body: str, status: int = 200) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        print(f"{self.command} {self.path} {status}", flush=True)

    def do_PUT(self) -> None:
        if self.path == "/latest/api/token":
            self._send("imds-session-token")
        else:
            self._send("", 404)

    def do_GET(self) -> None:
        if self.path == "/latest/meta-data/iam/security-credentials/":
            self._send(ROLE)
        elif self.path == f"/latest/meta-data/iam/security-credentials/{ROLE}":
            self._send(json.dumps(CREDS))
        elif self.path == "/eks-creds":
            if self.headers.get("Authorization") != "eks-pod-token":
                self._send("", 401)
            else:
                self._send(json.dumps(CREDS))
        else:
            self._send("", 404)

    def log_message(self, *args: object) -> None:
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
