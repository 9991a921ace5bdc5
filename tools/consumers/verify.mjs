// A Node.js service verifying the account API's tokens with jose, the way its documentation
// shows (remote JWK Set, issuer, audience, algorithm): reads
// {"jwks_uri", "issuer", "audience", "tokens": {"<name>": "<jwt>"}} on stdin and prints, per
// consumer configuration and token, "accepted" or the error jose gave.
import { createRemoteJWKSet, jwtVerify } from "jose";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const keys = createRemoteJWKSet(new URL(input.jwks_uri));
// A consumer checks the audience it was given; one that reads RFC 9068's typ instead (and no
// audience) must refuse refresh tokens too.
const consumers = {
  "jose (issuer, audience)": { issuer: input.issuer, audience: input.audience, algorithms: ["ES256"] },
  "jose (issuer, typ at+jwt)": { issuer: input.issuer, typ: "at+jwt", algorithms: ["ES256"] },
};
const results = {};
for (const [consumer, options] of Object.entries(consumers)) {
  results[consumer] = {};
  for (const [name, token] of Object.entries(input.tokens)) {
    try {
      await jwtVerify(token, keys, options);
      results[consumer][name] = "accepted";
    } catch (error) {
      results[consumer][name] = `${error.code ?? error.name}: ${error.message}`;
    }
  }
}
console.log(JSON.stringify(results));
