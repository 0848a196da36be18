package web_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserScopedWriteControls signs in with a write token scoped to proj/deep (and
// one scoped to PROJ/Deep: the server folds case) and walks the root, proj and
// proj/deep: upload and new-folder controls show exactly where the server takes an
// upload with that token (only inside proj/deep), and rename, delete and share are
// offered for an entry exactly when it lies inside the scope (the folder deep itself
// does; proj is only the way down).
func TestBrowserScopedWriteControls(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	if code, body := e.do("PUT", "/api/files/proj/deep/plan.txt", []byte("the plan"), nil); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for i, scope := range []string{"proj/deep", "PROJ/Deep"} {
		code, body := e.call(e.admin, "POST", "/api/team/tokens", map[string]any{"subject": "dave", "role": "write", "paths": []string{scope}})
		if code != 201 {
			t.Fatalf("issue a token scoped to %s: %d %s", scope, code, body)
		}
		var ans struct{ Token string }
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, exe)
		b.run(chromedp.Navigate(e.base + "/#token=" + ans.Token))
		for _, st := range []struct{ dir, row string }{{"", "proj"}, {"proj", "deep"}, {"proj/deep", "plan.txt"}} {
			b.exec(fmt.Sprintf(`location.hash = %q`, "#/"+st.dir))
			b.waitJS("folder "+st.dir, jsHasRow(st.row)+` && document.querySelector('#banner').hidden`)
			probe := fmt.Sprintf("%s/probe%d.txt", st.dir, i)
			if st.dir == "" {
				probe = probe[1:]
			}
			code, _ := e.call(ans.Token, "PUT", "/api/files/"+probe, "x")
			for _, id := range []string{"#btn-upload", "#btn-upload-folder", "#btn-mkdir"} {
				if shown := eval[bool](b, jsVisible(id)); shown != (code == 201) {
					t.Errorf("scope %s, in %q: %s shown %v, but the server answers %d to an upload there", scope, st.dir, id, shown, code)
				}
			}
			b.selectRow(st.row)
			inside := st.dir != ""
			for _, id := range []string{"#btn-rename", "#btn-delete", "#btn-share"} {
				if on := eval[bool](b, fmt.Sprintf(`!document.querySelector(%q).disabled`, id)); on != inside {
					t.Errorf("scope %s, in %q, %q selected: %s enabled %v, want %v", scope, st.dir, st.row, id, on, inside)
				}
			}
		}
	}
}
