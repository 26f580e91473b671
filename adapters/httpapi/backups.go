package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type backupRoutes struct{ system *system.Service }

func (h backupRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/admin/backups", h.list)
}

type backupRunResponse struct {
	ID          string        `json:"id"`
	ScheduledAt domain.Stamp  `json:"scheduled_at"`
	Node        string        `json:"node"`
	StartedAt   domain.Stamp  `json:"started_at"`
	FinishedAt  *domain.Stamp `json:"finished_at"`
	Status      string        `json:"status"`
	Attempts    int           `json:"attempts"`
	File        string        `json:"file"`
	Bytes       int64         `json:"bytes"`
	Error       string        `json:"error"`
}

type backupListResponse struct {
	Data []backupRunResponse `json:"data"`
}

func toBackupRunResponse(r ports.BackupRun) backupRunResponse {
	return backupRunResponse{ID: r.ID, ScheduledAt: domain.Stamp{Time: r.ScheduledAt}, Node: r.Node, StartedAt: domain.Stamp{Time: r.StartedAt},
		FinishedAt: domain.StampOf(r.FinishedAt), Status: r.Status, Attempts: r.Attempts, File: r.File, Bytes: r.Bytes, Error: r.Error}
}

// list answers the newest scheduled backups, newest first, so that an
// operator sees the last result and when each node took one.
func (h backupRoutes) list(c *gin.Context) {
	runs, err := h.system.ListBackups(c.Request.Context(), principal(c))
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := backupListResponse{Data: make([]backupRunResponse, len(runs))}
	for i, r := range runs {
		out.Data[i] = toBackupRunResponse(r)
	}
	c.JSON(http.StatusOK, out)
}
