"""JSON Schemas shipped as package data: plan, service definition, journal."""
