package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"

	"github.com/spf13/cobra"
)

func init() {
	register(func(a *app) *cobra.Command { return newCatalogCmd(a, "domain", "/api/v1/domains", domainExample) })
	register(func(a *app) *cobra.Command { return newCatalogCmd(a, "profile", "/api/v1/profiles", profileExample) })
}

// newCatalogCmd manages the domains or the profiles of a running server
// over its REST API. set takes a JSON file holding the body the API takes
// (the same fields as GET answers), so that `show --json > f; edit; set f`
// round-trips.
func newCatalogCmd(a *app, kind, path, example string) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   kind,
		Short: fmt.Sprintf("List, show, set and delete the %ss of a running server", kind),
		Args:  cobra.NoArgs,
	}
	client := func() (*apiClient, error) { return a.apiClient(&af) }
	list := &cobra.Command{Use: "list", Short: "List the " + kind + "s", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var items []map[string]any
			if err := c.do("GET", path, nil, &items); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(items)
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stderr, "no %ss on this server; add one with amtrcs %s set FILE (see amtrcs %s set --help)\n", kind, kind, kind)
			}
			for _, it := range items {
				fmt.Fprintln(a.stdout, it["name"])
			}
			return nil
		}}
	show := &cobra.Command{Use: "show NAME", Short: "Show one " + kind + " as JSON", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var it map[string]any
			if err := c.do("GET", path+"/"+url.PathEscape(args[0]), nil, &it); err != nil {
				return err
			}
			return a.printJSON(it)
		}}
	set := &cobra.Command{Use: "set FILE", Short: "Create or replace a " + kind + " from a JSON file (the API's body)", Args: cobra.ExactArgs(1),
		Example: example,
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return usageError(err)
			}
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				return usageError(fmt.Errorf("%s: %v; want one JSON object with the fields of `amtrcs %s show --json`; fix: correct the file", args[0], err, kind))
			}
			name, _ := body["name"].(string)
			if name == "" {
				return usageError(fmt.Errorf("%s: %s name: none; want a \"name\" field; fix: add \"name\" to the file", args[0], kind))
			}
			c, err := client()
			if err != nil {
				return err
			}
			var it map[string]any
			if err := c.do("PUT", path+"/"+url.PathEscape(name), body, &it); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s set\n", kind, name)
			return nil
		}}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a " + kind, Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.do("DELETE", path+"/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s deleted\n", kind, args[0])
			return nil
		}}
	for _, sub := range []*cobra.Command{list, show, set, del} {
		af.register(sub)
		cmd.AddCommand(sub)
	}
	return cmd
}

const domainExample = `  # corp.json: the devices' DNS suffixes, the provisioning certificate that
  # covers them (an id of amtrcs cert list), the profile their devices get,
  # and the other profiles their agents may ask for.
  {"name": "corp", "suffixes": ["corp.example.com"], "cert_id": "079573f7",
   "profile": "office", "allowed_profiles": ["kiosk"]}
  amtrcs domain set corp.json`

const profileExample = `  # Start from a profile the server has, and edit it:
  amtrcs profile show default > office.json   # then set "name": "office" and edit
  amtrcs profile set office.json
  # Static passwords go in the write-only admin_password_value and
  # mebx_password_value fields; show never prints them.`
