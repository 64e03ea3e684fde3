package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchConfig reloads the config when its file (or secrets.yaml beside it)
// changes. A valid edit replaces the live config; an invalid one keeps the old
// config running and logs why. Editors that save by rename are handled by
// watching the directory.
func watchConfig(ctx context.Context, o Options, holder *configHolder, log *slog.Logger) error {
	path := holder.load().Source
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		return err
	}
	watched := map[string]bool{filepath.Clean(path): true, filepath.Join(dir, "secrets.yaml"): true}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if watched[filepath.Clean(ev.Name)] {
				debounce = time.After(200 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("config watch error", "err", err)
		case <-debounce:
			debounce = nil
			opts := o
			opts.ConfigPath = path
			cfg, report, err := LoadConfig(opts)
			if err != nil {
				log.Error("config edit rejected; the previous config stays in force", "err", err)
				continue
			}
			for _, w := range report.Warnings {
				log.Warn(w)
			}
			holder.store(cfg)
			log.Info("config reloaded", "file", path)
		}
	}
}
