// The one setting of the front end: where the account API is. `make dev` serves its own
// version of this file (tools/web_server.py) pointing at the local API; when you host web/,
// set your API's base URL here (the stage URL or custom domain, without /account).
export const API_BASE_URL = "http://localhost:9000";
