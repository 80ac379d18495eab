#!/usr/bin/python3
"""A real SMTP server for the weekly e-mail tests (Debian's python3-aiosmtpd).

Usage: smtp-sink.py DIR PORT

Every accepted message is written to DIR as <sequence>-<recipient>.eml, only after the server
has decided to answer 250 (a client that hangs up before the answer leaves no file, as a real
server discards an unfinished transaction). Recipients starting with "refuse" are refused with
550; a message to a recipient starting with "slow" is answered after SMTP_SINK_SLOW_SECS
(default 30) seconds, so a test can stop the sender in the middle of the exchange.
"""
import asyncio
import itertools
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.sequence = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(float(os.environ.get("SMTP_SINK_SLOW_SECS", "30")))
        number = next(self.sequence)
        for rcpt in envelope.rcpt_tos:
            path = os.path.join(self.directory, "%06d-%s.eml" % (number, rcpt))
            with open(path + ".partial", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(path + ".partial", path)
        return "250 2.0.0 accepted as %d" % number


def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
