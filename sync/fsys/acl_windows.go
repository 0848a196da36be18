package fsys

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// Private makes path accessible to the current user only, where mode 0600 means
// nothing: its DACL is replaced by one entry granting the user full control, and
// protected, so that nothing is inherited from the parent (Users, Authenticated
// Users). On a directory the entry is inherited by everything created inside later
// (the state file, the lock), so they are private too.
func Private(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return err
	}
	inherit := uint32(windows.NO_INHERITANCE)
	if fi.IsDir() {
		inherit = windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       inherit,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(u.User.Sid),
		},
	}}, nil)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(LongPath(abs), windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
}
