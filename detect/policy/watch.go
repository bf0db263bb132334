package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the policy file and reloads it on change until ctx is done;
// it also sweeps the in-process rate limiter's idle buckets. With the
// embedded policy or watch off it only sweeps.
//
// It watches directories, not the file: editors save by writing a temporary
// file and renaming it over the old one (the watched inode disappears), and
// Kubernetes updates a mounted ConfigMap by swapping the "..data" symlink
// the file points through. So Run watches the file's directory and, when
// the file is a symlink, the directory of its target (re-resolved after
// every change), reloads after Debounce of quiet, and lets Reload ignore
// events that did not change the content.
func (d *Decider) Run(ctx context.Context) error {
	if d.local != nil {
		go d.local.Run(ctx)
	}
	if d.cfg.File == "" || !d.cfg.Watch {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy watch: %w", err)
	}
	defer w.Close()
	var watched []string
	rewatch := func() error {
		dirs, err := watchDirs(d.cfg.File)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			if slices.Contains(w.WatchList(), dir) {
				continue
			}
			if err := w.Add(dir); err != nil {
				return fmt.Errorf("policy watch %s: %w", dir, err)
			}
		}
		watched = dirs
		return nil
	}
	if err := rewatch(); err != nil {
		return err
	}
	d.log.Info().Str("policy", d.cfg.File).Strs("dirs", watched).Msg("watching policy file")
	d.watchOnce.Do(func() { close(d.watching) })

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue // touch, chmod: content unchanged
			}
			debounce.Reset(d.cfg.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn().Err(err).Msg("policy watch error")
		case <-debounce.C:
			_ = d.Reload() // logged and counted; the old policy stays on error
			if err := rewatch(); err != nil {
				d.log.Warn().Err(err).Msg("policy watch: cannot re-resolve the file's directories")
			}
		}
	}
}

// watchDirs returns the directory of path and, if path resolves through
// symlinks elsewhere, the directory of the final target.
func watchDirs(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("policy watch: %w", err)
	}
	dirs := []string{filepath.Dir(abs)}
	if target, err := filepath.EvalSymlinks(abs); err == nil {
		if dir := filepath.Dir(target); !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}
