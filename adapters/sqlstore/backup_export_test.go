package sqlstore

import "context"

// BackupSchema describes the tables as a backup sees them: per table, per
// column, the kind its values are written as, and "pk" for the primary
// key's columns in order.
func (db *DB) BackupSchema(ctx context.Context) (map[string]map[string]string, error) {
	tables, err := db.backupTables(ctx, db.sql)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, t := range tables {
		cols := map[string]string{}
		for _, c := range t.columns {
			cols[c.name] = c.kind.String()
		}
		for i, c := range t.pk {
			cols["pk"] += c
			if i < len(t.pk)-1 {
				cols["pk"] += ","
			}
		}
		out[t.name] = cols
	}
	return out, nil
}
