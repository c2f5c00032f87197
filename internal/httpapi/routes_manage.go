package httpapi

import "github.com/labstack/echo/v4"

// routesManagement registers SPEC §4.3–§4.6: campaigns, customers,
// templates, messages (on v, behind the bearer token) and delivery reports
// (on api: providers authenticate with dlrToken instead).
func (s *Server) routesManagement(v, api *echo.Group, dlrToken string) {
	v.POST("/campaigns/create", s.createCampaign)
	v.GET("/campaigns", s.listCampaigns)
	v.GET("/campaigns/:id", s.getCampaign)
	v.PUT("/campaigns/update/:id", s.updateCampaign)
	v.PATCH("/campaigns/pause/:id", s.pauseCampaign)
	v.PATCH("/campaigns/resume/:id", s.resumeCampaign)
	v.DELETE("/campaigns/:id", s.deleteCampaign)
	v.GET("/campaigns/:id/customers", s.listCustomers)

	v.POST("/customers/add", s.addCustomer)
	v.POST("/customers/add/bulk", s.addCustomersBulk)
	v.PUT("/customer-data", s.updateCustomer)

	v.POST("/templates", s.createTemplate)
	v.GET("/templates", s.listTemplates)
	v.GET("/templates/:id", s.getTemplate)
	v.PUT("/templates/:id", s.updateTemplate)
	v.DELETE("/templates/:id", s.deleteTemplate)

	v.GET("/communication/sms/:messageId", s.getMessage)
	v.GET("/logs", s.listLogs)

	// Registered even without a token: the authenticated group's catch-all
	// would otherwise answer 401 where SPEC §2 wants 404.
	if dlrToken == "" {
		api.Any("/webhooks/dlr/:provider", s.deliveryReport(""))
	} else {
		api.POST("/webhooks/dlr/:provider", s.deliveryReport(dlrToken))
	}
}
