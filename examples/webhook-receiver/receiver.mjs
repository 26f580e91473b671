// receiver.mjs receives Keel's webhooks and verifies each one with the
// Standard Webhooks package (npm: standardwebhooks) before trusting it.
//
//   npm ci && KEEL_WEBHOOK_SECRET=whsec_… LISTEN_PORT=8000 node receiver.mjs
//
// It prints "verified <webhook-id> <type>" for each new event and
// "duplicate <webhook-id>" for an event it has already processed: Keel
// delivers at least once, and a delivery repeated after a crash or a
// redelivery carries the same webhook-id.
import http from "node:http";
import standardwebhooks from "standardwebhooks";

const { Webhook } = standardwebhooks;
const wh = new Webhook(process.env.KEEL_WEBHOOK_SECRET);
const host = process.env.LISTEN_HOST ?? "127.0.0.1";
const port = Number(process.env.LISTEN_PORT ?? 8000);

// A real receiver keeps the IDs it has processed in its database, for
// longer than Keel retries (about three days).
const seen = new Set();

const server = http.createServer((req, res) => {
	if (req.method !== "POST") {
		res.writeHead(405).end();
		return;
	}
	const chunks = [];
	let size = 0;
	req.on("data", (c) => {
		size += c.length;
		if (size > 1 << 20) {
			res.writeHead(413).end();
			req.destroy();
			return;
		}
		chunks.push(c);
	});
	req.on("end", () => {
		// Verify the exact bytes Keel signed, before parsing them.
		const body = Buffer.concat(chunks).toString("utf8");
		let event;
		try {
			// verify checks the signature over webhook-id,
			// webhook-timestamp and the body, refuses a timestamp more
			// than five minutes away, and returns the parsed body.
			event = wh.verify(body, req.headers);
		} catch {
			res.writeHead(400).end("invalid signature");
			return;
		}
		const id = req.headers["webhook-id"];
		if (seen.has(id)) {
			console.log("duplicate", id);
		} else {
			seen.add(id);
			// Act on the event here; answer quickly, within 10 s, and
			// queue long work.
			console.log("verified", id, event.type);
		}
		res.writeHead(204).end();
	});
});

server.listen(port, host, () => {
	const a = server.address();
	console.log(`listening on ${a.address}:${a.port}`);
});
