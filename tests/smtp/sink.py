"""A real SMTP server for Vigie's tests: aiosmtpd on loopback, recording every message it
accepts (Message-ID, recipients, size) as a JSON line, with optional faults: a connection dropped
at RCPT (the message is not taken), or dropped after the message was taken but before the reply
(the sender cannot know: the message is in doubt).

Prints "LISTENING <port>" once ready. Stops on SIGTERM or when stdin closes.
"""
import argparse
import asyncio
import email
import json
import os
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log, drop_rcpt_every, drop_after_accept_every):
        self.log = open(log, "a", buffering=1)
        self.drop_rcpt_every = drop_rcpt_every
        self.drop_after_accept_every = drop_after_accept_every
        self.rcpts = 0
        self.accepted = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpts += 1
            drop = self.drop_rcpt_every and self.rcpts % self.drop_rcpt_every == 0
        if drop:
            server.transport.close()
            return "421 closing (test fault: dropped at RCPT)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        record = {
            "message_id": (msg.get("Message-ID") or "").strip().strip("<>"),
            "to": envelope.rcpt_tos,
            "subject": str(msg.get("Subject") or ""),
            "size": len(envelope.content),
        }
        with self.lock:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
            os.fsync(self.log.fileno())
            self.accepted += 1
            drop = self.drop_after_accept_every and self.accepted % self.drop_after_accept_every == 0
        if drop:
            server.transport.close()
        return "250 Message accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--drop-rcpt-every", type=int, default=0)
    p.add_argument("--drop-after-accept-every", type=int, default=0)
    a = p.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    handler = Sink(a.log, a.drop_rcpt_every, a.drop_after_accept_every)
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    print(f"LISTENING {port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
