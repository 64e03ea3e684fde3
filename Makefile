# Steward — common tasks. GOTOOLCHAIN=local keeps the machine's Go.
export GOTOOLCHAIN := local
GO ?= go

.PHONY: run test build bench fuzz nats-cli clean

## run: start Steward (embedded NATS + every service) with ./config.yaml if present
run:
	$(GO) run ./cmd/steward run --dev

## test: the whole suite; installs what the tests need when missing
test:
	scripts/test

## build: build ./bin/steward
build:
	$(GO) build -o bin/steward ./cmd/steward

## bench: the performance benchmarks quoted in the README and issue notes
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/msg/ ./e2e/ ./services/pipeline/ ./integrations/email/

## fuzz: run each fuzz target for 30 s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCanonicalJSON -fuzztime 30s ./internal/msg/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzActions -fuzztime 30s ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzParseCondition -fuzztime 30s ./internal/rules/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./integrations/email/message/
	$(GO) test -run '^$$' -fuzz FuzzRootDomain -fuzztime 30s ./integrations/email/message/
	$(GO) test -run '^$$' -fuzz FuzzScrub -fuzztime 30s ./internal/llm/
	for f in FuzzValidateID FuzzReadStringField; do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 30s ./services/gateway/ || exit 1; done
	$(GO) test -run '^$$' -fuzz FuzzEscapeInline -fuzztime 30s ./services/journal/
	$(GO) test -run '^$$' -fuzz FuzzSanitizeLogText -fuzztime 30s ./services/journal/
	$(GO) test -run '^$$' -fuzz FuzzSanitizeNoteBody -fuzztime 30s ./services/journal/
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 30s ./internal/template/
	$(GO) test -run '^$$' -fuzz FuzzParseResponse -fuzztime 30s ./integrations/gemini/client/

## nats-cli: install the nats CLI (natscli v0.5.0) into $(shell $(GO) env GOPATH)/bin
nats-cli:
	$(GO) install github.com/nats-io/natscli/nats@v0.5.0

clean:
	rm -rf bin
