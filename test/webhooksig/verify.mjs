// verify.mjs runs the official Standard Webhooks package (npm:
// standardwebhooks, pinned in package-lock.json) for Keel's signature test,
// so that Keel's signer is checked by an implementation it does not share
// code with. It reads one JSON request on standard input:
//   {"verify": [{secret, id, timestamp, signature, body}],
//    "sign":   [{secret, id, timestamp, body}]}
// and writes {"verify": [{ok, error}], "sign": ["v1,..."]} to standard output.
import { readFileSync } from "node:fs";
import standardwebhooks from "standardwebhooks";

const { Webhook } = standardwebhooks;
const req = JSON.parse(readFileSync(0, "utf8"));

const verify = (req.verify ?? []).map((c) => {
	try {
		new Webhook(c.secret).verify(
			c.body,
			{
				"webhook-id": c.id,
				"webhook-timestamp": c.timestamp,
				"webhook-signature": c.signature,
			},
			{ jsonParse: false },
		);
		return { ok: true, error: "" };
	} catch (e) {
		return { ok: false, error: String(e?.message ?? e) };
	}
});

const sign = (req.sign ?? []).map((c) =>
	new Webhook(c.secret).sign(c.id, new Date(Number(c.timestamp) * 1000), c.body),
);

process.stdout.write(JSON.stringify({ verify, sign }));
