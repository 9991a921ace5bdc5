# The two commands: `make dev` runs the API locally, `make test` checks everything.
# Both install what they need (pinned, into .tools/) on first use.

.PHONY: dev test docs test-browser fuzz-api invoke sam-build deploy delete smoke bench bench-social fuzz load tools clean rotate-key

# The samconfig.toml environment `make deploy` / `make delete` act on: dev (default) or prod.
ENV ?= dev
# `make deploy PARAMS='Key=Value Key2="a,b"'`: parameters over samconfig.toml's, for one deploy.
# Passed through the environment (never pasted into a command line, so quotes survive).
export PARAMS

dev: ## run the API on http://127.0.0.1:$(API_PORT) (default 9000) with DynamoDB on $(DYNAMODB_PORT) (8000)
	@tools/dev.sh

test: ## fmt, clippy, unit, handler, store and end-to-end tests
	@tools/test.sh

docs: ## build the book (docs/) into target/book/ with the pinned mdBook (installed into .tools/ on first use); make test checks its links
	@tools/check-docs.sh --build-only

rotate-key: ## rotate the local signing key (.local/; JWT_ALGORITHM=HS256 or ES256): the previous one still verifies, a running make dev picks it up within 10 s
	@tools/rotate-key.sh

test-browser: ## the front end (web/) in headless Chromium against a stack of its own (also a step of make test)
	@tools/browser-test.sh

fuzz-api: ## schemathesis against the local stack, long: FUZZ_API_EXAMPLES (100) per operation, up to FUZZ_API_SECONDS (600)
	@tools/fuzz-api.sh

invoke: ## send every event in events/ to the running `make dev` stack (cargo lambda invoke)
	@tools/invoke.sh

sam-build: ## build every function for arm64 Lambda with SAM (.aws-sam/), and report zipped sizes
	@tools/sam-build.sh

deploy: ## parameter checks, sam validate --lint, sam build (arm64), sam deploy --config-env $(ENV) (ENV=dev or prod; PARAMS='K=V ...' overrides samconfig.toml), then the deployed code checked against the build
	@ENV=$(ENV) tools/deploy.sh

delete: ## sam delete --config-env $(ENV): removes the stack but its table, its three secrets (and logging role), listed first with the commands that remove them; asks first
	@ENV=$(ENV) tools/delete.sh

smoke: ## the black-box end-to-end tests against a running stack: make smoke API_URL=<the stack's ApiUrl output>
	@tools/smoke.sh

bench: ## release builds, then cold starts, warm costs, memory, sizes, throughput, release profiles → docs/bench-results.md
	@tools/bench.sh

bench-social: ## a social login's cost beside a password login: first answer after spawn, warm answers, provider and DynamoDB requests counted
	@tools/bench-social.sh

load: ## the mixed workload (locust) for LOAD_SECONDS (600) against a release stack whose DynamoDB sits behind a fault proxy, then the invariants checked from the table → .local/load-*/report.md
	@tools/load.sh

fuzz: ## each cargo-fuzz target for FUZZ_SECONDS (default 120) under AddressSanitizer; 0 crashes or it fails
	@tools/fuzz.sh

tools: ## install the pinned local tools only
	@bash -c 'source tools/lib.sh && install_tools'

clean: ## remove build outputs and local state (keeps .tools)
	cargo clean
	rm -rf .local
