// Package readmesql reads the SQL the README shows its users, so that the
// tests run it as written: a query renamed or broken in the README fails
// them.
package readmesql

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// Blocks returns the text of each ```sql block of the file at path
// between the markers <!-- section --> and <!-- /section -->, in order.
// A file without the section, or a section without SQL, is an error.
func Blocks(path, section string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := string(b)
	start, end := strings.Index(s, "<!-- "+section+" -->"), strings.Index(s, "<!-- /"+section+" -->")
	if start < 0 || end < start {
		return nil, fmt.Errorf("%s has no %s section", path, section)
	}
	var out []string
	for _, m := range sqlBlock.FindAllStringSubmatch(s[start:end], -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no SQL in the %s section of %s", section, path)
	}
	return out, nil
}
