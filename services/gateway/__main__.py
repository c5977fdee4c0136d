from services.gateway.settings import GatewaySettings
from shared.service import run_service

if __name__ == "__main__":
    run_service("gateway", GatewaySettings)
