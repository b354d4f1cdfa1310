package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func init() {
	register(newBackupCmd)
	register(newRestoreCmd)
}

// kekReminder is said with every backup and restore: the copy holds the
// secrets sealed, and the KEK that opens them is never in it.
func kekReminder(cfg *config.Config, dataDir string) string {
	where := filepath.Join(dataDir, store.DefaultKEKFile)
	switch {
	case cfg.KEK.KMS != "":
		// The copy holds the data key wrapped by the HSM's pair, which
		// never leaves the HSM: the pair is what must be kept.
		where = "the HSM key pair that kek.kms names, kept as the HSM keeps backups of its keys"
	case cfg.KEK.Env != "":
		where = "the environment variable " + cfg.KEK.Env
	case cfg.KEK.File != "":
		where = cfg.KEK.File
	}
	return "the backup holds the secrets sealed and never the key-encryption key: keep a copy of the KEK (" + where + ") apart from it; without the KEK the device passwords in it cannot be opened"
}

// backupReport is the --json form of backup.
type backupReport struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	Note  string `json:"note"`
}

func newBackupCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the store of a running server to FILE",
		Long: "backup asks a running amtrcs serve for a consistent copy of its store (GET /api/v1/backup, admin only, audited)\n" +
			"and writes it to FILE with mode 0600, in one step: FILE is whole or absent. Activations go on meanwhile.\n" +
			"The copy holds the secrets sealed, never the key-encryption key: keep the KEK apart from it.\n" +
			"Restore it with: amtrcs restore FILE --data-dir DIR (server stopped).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			n, err := c.backup(args[0])
			if err != nil {
				return err
			}
			rep := backupReport{File: args[0], Bytes: n, Note: kekReminder(cfg, cfg.DataDir)}
			if a.json {
				return a.printJSON(rep)
			}
			fmt.Fprintf(a.stdout, "backup written to %s (%d bytes, mode 0600)\n%s\n", rep.File, rep.Bytes, rep.Note)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// backup streams GET /api/v1/backup into a temporary file beside path,
// checks it is a whole, sound store, and renames it into place.
func (c *apiClient) backup(path string) (int64, error) {
	req, err := http.NewRequest("GET", c.base+"/api/v1/backup", nil)
	if err != nil {
		return 0, usageError(fmt.Errorf("--server %q: %v", c.base, err))
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	// No overall timeout: a large store takes as long as it takes.
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, usageError(fmt.Errorf("reach the RCS at %s: %v: start amtrcs serve, or fix --server/--ca", c.base, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		r := &apiRefusal{Status: resp.StatusCode}
		if json.Unmarshal(data, &r.Body) != nil || r.Body.Message == "" {
			r.Body.Message = strings.TrimSpace(string(data))
		}
		return 0, verdictError(r)
	}
	if ct := resp.Header.Get("Content-Type"); ct != rcs.BackupContentType {
		return 0, verdictError(fmt.Errorf("backup: the server at %s answered %q, want %q: check --server names an amtrcs server", c.base, ct, rcs.BackupContentType))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return 0, usageError(fmt.Errorf("backup file %s: %v: give a path in a writable directory", path, err))
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d bytes, the server announced %d", n, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, verdictError(fmt.Errorf("backup: the copy was cut short (%v); nothing was written to %s: run backup again", err, path))
	}
	if err := store.CheckFile(tmp.Name()); err != nil {
		return n, verdictError(fmt.Errorf("backup: the copy the server sent is not a sound store (%v); nothing was written to %s", err, path))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, verdictError(fmt.Errorf("backup: put the copy in place at %s: %v", path, err))
	}
	return n, nil
}

// restoreReport is the --json form of restore.
type restoreReport struct {
	store.RestoreResult
	Note string `json:"note"`
}

func newRestoreCmd(a *app) *cobra.Command {
	var lockWait time.Duration
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the store of --data-dir with a backup (server stopped)",
		Long: "restore checks that FILE is a sound amtrcs store whose every secret opens with the KEK of the data directory\n" +
			"(or the one --config names), then puts it in place of <data-dir>/amtrcs.db. The previous store is kept beside it,\n" +
			"renamed amtrcs.db.before-restore-<time>. It refuses while a server holds the store: stop amtrcs serve first.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if cfg.Store.Backend == config.StorePostgres {
				return usageError(errors.New("restore: the store is a PostgreSQL database (store.backend = \"postgres\"), and restore replaces the bbolt file of --data-dir: want PostgreSQL's own restore; fix: restore the database with pg_restore from a pg_dump of it, with every server stopped"))
			}
			side := storeFile + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
			res, err := store.Restore(filepath.Join(cfg.DataDir, storeFile), args[0], side, store.Options{KEK: kekSource(cfg), LockTimeout: lockWait})
			if err != nil {
				return usageError(fmt.Errorf("restore: %w", err))
			}
			rep := restoreReport{RestoreResult: res, Note: kekReminder(cfg, cfg.DataDir)}
			if a.json {
				return a.printJSON(rep)
			}
			fmt.Fprintf(a.stdout, "restored %s into %s (%d bytes)\n", res.From, res.Path, res.Bytes)
			fmt.Fprintf(a.stdout, "  checked: %d sealed secrets open with the KEK; %d devices, %d profiles, %d domains, %d provisioning certificates\n",
				res.Secrets, res.Records[store.Devices], res.Records[store.Profiles], res.Records[store.Domains], res.Records[store.ProvCerts])
			if res.SideCopy != "" {
				fmt.Fprintf(a.stdout, "  the previous store is kept at %s; delete it once the restored server works\n", res.SideCopy)
			} else {
				fmt.Fprintln(a.stdout, "  there was no previous store")
			}
			fmt.Fprintln(a.stdout, "  start the server: amtrcs serve --data-dir", cfg.DataDir)
			return nil
		},
	}
	cmd.Flags().DurationVar(&lockWait, "lock-wait", store.DefaultLockTimeout, "how long to wait for another process to release the store")
	return cmd
}
