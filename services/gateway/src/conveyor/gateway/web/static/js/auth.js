// Why a token was refused, in words: the gateway's 401 (REST) and 4401 close (WebSocket) both
// carry verify_token's reason, e.g. "invalid token: it has expired" or "invalid token:
// Signature verification failed".

export function tokenProblem(reason) {
  const text = String(reason || "");
  if (/expired/i.test(text)) return { kind: "expired", words: "the token has expired" };
  if (/signature/i.test(text)) {
    return { kind: "signature", words: "its signature is invalid (it was not signed with this gateway's secret)" };
  }
  const detail = text.replace(/^unauthori[sz]ed:\s*/i, "").replace(/^invalid token:\s*/i, "");
  return { kind: "invalid", words: `it is not a valid token${detail ? ` (${detail})` : ""}` };
}

const NEW_TOKEN = "Mint a new one (uv run conveyor token --user NAME).";

// Refused while signing in: the user was never signed in, so nothing was "signed out".
export function rejectedMessage(reason) {
  const problem = tokenProblem(reason);
  return `Token rejected: ${problem.words}. ${problem.kind === "expired" ? NEW_TOKEN : ""}`.trim();
}

// Refused during a session (e.g. the token expired while the page was open).
export function signedOutMessage(reason) {
  return `Signed out: ${tokenProblem(reason).words}. Sign in again with a valid token.`;
}
