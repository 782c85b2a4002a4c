"""A real SMTP server for the mail tests (aiosmtpd): every message it accepts is written as
<n>.eml into --dir, envelope recipients in a first `X-Envelope-To:` line. With --reject-to ADDR it
answers 550 for that recipient (a permanent failure)."""
import argparse
import asyncio
import itertools
import os
import signal

from aiosmtpd.controller import Controller


class Saver:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = reject
        self.counter = itertools.count()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and address == self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{os.getpid()}-{n}.tmp")
        final = os.path.join(self.directory, f"{os.getpid()}-{n}.eml")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(tmp, final)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--reject-to", default=None)
    args = p.parse_args()
    controller = Controller(Saver(args.dir, args.reject_to), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
