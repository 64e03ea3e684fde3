// Package notefile is the note file format Steward shares with the reference
// (YAML front matter rendered byte for byte like PyYAML, then the Markdown body),
// the rule for note paths, and the NOTES-stream event that asks the journal to
// write a note. Producers (integrations, the pipeline's result routes) build and
// emit note events with it; services/journal, the only writer of files people
// read, renders and writes them. It does no file I/O itself.
package notefile
